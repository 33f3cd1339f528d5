# qrdr-script: qrdr:Mount-ExchangeStore
# Mounts one mailbox or public folder store of this server by its name (CDOEXM Mount()).
# qrdr-include: store_by_name_parameters.ps1
# qrdr-include: find_store.ps1

$db = (Find-Store $Name)[0]
$db.Mount()

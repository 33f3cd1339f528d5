# qrdr-script: qrdr:Dismount-ExchangeStore
# Dismounts one mailbox or public folder store of this server by its name (CDOEXM Dismount()).
# qrdr-include: store_by_name_parameters.ps1
# qrdr-include: find_store.ps1

$db = (Find-Store $Name)[0]
$db.Dismount()

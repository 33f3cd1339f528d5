# qrdr-script: qrdr:Remove-ExchangeStore
# Deletes a (dismounted) mailbox or public folder store of this server (cleanup appendix 1.3).
# qrdr-include: store_by_name_parameters.ps1
# qrdr-include: find_store.ps1

$db = (Find-Store $Name)[0]
$db.DataSource.Delete()

# qrdr-script: qrdr:Remove-StorageGroup
# Deletes an empty storage group of this server (cleanup appendix 1.4).
# qrdr-include: store_by_name_parameters.ps1
# qrdr-include: storage_groups.ps1

foreach ($group in Get-StorageGroup 3) {
    if ($group.Name -eq $Name) {
        $group.DataSource.Delete()
        return
    }
}
throw "No storage group named '$Name' on server $ComputerName."

# qrdr-fragment: Find-Store
# Included by the store scripts (# qrdr-include: find_store.ps1): not a script of its own.
# Find-Store NAME: the store of that name on -ComputerName, opened read-write (mode 3) with the
# script's -UserName/-Password, and its AD path: @(store, dn). Throws when there is none.
# qrdr-include: storage_groups.ps1
function Find-Store([string]$StoreName) {
    foreach ($group in Get-StorageGroup 3) {
        foreach ($kind in @(@('CDOEXM.MailboxStoreDB', $group.MailboxStoreDBs), @('CDOEXM.PublicStoreDB', $group.PublicStoreDBs))) {
            foreach ($dn in $kind[1]) {
                $db = New-Object -ComObject $kind[0]
                $db.DataSource.Open($dn, $null, 3, -1, 0, $UserName, $Password)
                if ($db.Name -eq $StoreName) { return @($db, $dn) }
            }
        }
    }
    throw "No store named '$StoreName' on server $ComputerName."
}

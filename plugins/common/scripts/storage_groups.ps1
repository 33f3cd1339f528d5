# qrdr-fragment: Get-StorageGroup
# Included by the store scripts (# qrdr-include: storage_groups.ps1): not a script of its own.
# Get-StorageGroup MODE: each storage group of -ComputerName, opened with the script's
# -UserName/-Password in MODE (CDO's ConnectModeEnum: 1 adModeRead, 3 adModeReadWrite).
function Get-StorageGroup([int]$Mode) {
    $server = New-Object -ComObject CDOEXM.ExchangeServer
    $server.DataSource.Open($ComputerName, $null, $Mode, -1, 0, $UserName, $Password)
    foreach ($groupDn in $server.StorageGroups) {
        $group = New-Object -ComObject CDOEXM.StorageGroup
        $group.DataSource.Open($groupDn, $null, $Mode, -1, 0, $UserName, $Password)
        $group
    }
}

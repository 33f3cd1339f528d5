# qrdr-script: qrdr:Remove-StorageGroup
# Deletes an empty storage group of this server (cleanup appendix 1.4).
param(
    [Parameter(Mandatory = $true)][string]$Name
)

$ErrorActionPreference = 'Stop'
$server = New-Object -ComObject CDOEXM.ExchangeServer
$server.DataSource.Open($env:COMPUTERNAME)
foreach ($groupDn in $server.StorageGroups) {
    $group = New-Object -ComObject CDOEXM.StorageGroup
    $group.DataSource.Open($groupDn)
    if ($group.Name -eq $Name) {
        $group.DataSource.Delete()
        return
    }
}
throw "No storage group named '$Name' on server $env:COMPUTERNAME."

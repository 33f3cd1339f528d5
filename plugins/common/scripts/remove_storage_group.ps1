# qrdr-script: qrdr:Remove-StorageGroup
# Deletes an empty storage group of this server (cleanup appendix 1.4).
# -ComputerName: the Exchange server (default this one; a Windows 2000 server from the management host).
param(
    [Parameter(Mandatory = $true)][string]$Name,
    [string]$ComputerName = $env:COMPUTERNAME
)

$ErrorActionPreference = 'Stop'
$server = New-Object -ComObject CDOEXM.ExchangeServer
$server.DataSource.Open($ComputerName)
foreach ($groupDn in $server.StorageGroups) {
    $group = New-Object -ComObject CDOEXM.StorageGroup
    $group.DataSource.Open($groupDn)
    if ($group.Name -eq $Name) {
        $group.DataSource.Delete()
        return
    }
}
throw "No storage group named '$Name' on server $ComputerName."

# qrdr-script: qrdr:Remove-StorageGroup
# Deletes an empty storage group of this server (cleanup appendix 1.4).
# -ComputerName: the Exchange server (default this one; a Windows 2000 server from the management host).
# -UserName/-Password: the domain account every bind to the directory uses (CDO's Open takes them,
# as does DirectoryEntry): a remoting session holds no credentials of its own for a domain controller.
param(
    [Parameter(Mandatory = $true)][string]$Name,
    [string]$ComputerName = $env:COMPUTERNAME,
    [Parameter(Mandatory = $true)][string]$UserName,
    [Parameter(Mandatory = $true)][string]$Password
)

$ErrorActionPreference = 'Stop'
$server = New-Object -ComObject CDOEXM.ExchangeServer
$server.DataSource.Open($ComputerName, $null, 3, -1, 0, $UserName, $Password)
foreach ($groupDn in $server.StorageGroups) {
    $group = New-Object -ComObject CDOEXM.StorageGroup
    $group.DataSource.Open($groupDn, $null, 3, -1, 0, $UserName, $Password)
    if ($group.Name -eq $Name) {
        $group.DataSource.Delete()
        return
    }
}
throw "No storage group named '$Name' on server $ComputerName."

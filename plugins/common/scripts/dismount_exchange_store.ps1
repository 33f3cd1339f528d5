# qrdr-script: qrdr:Dismount-ExchangeStore
# Dismounts one mailbox or public folder store of this server by its name (CDOEXM Dismount()).
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

function Find-Store([string]$StoreName) {
    $server = New-Object -ComObject CDOEXM.ExchangeServer
    $server.DataSource.Open($ComputerName, $null, 3, -1, 0, $UserName, $Password)
    foreach ($groupDn in $server.StorageGroups) {
        $group = New-Object -ComObject CDOEXM.StorageGroup
        $group.DataSource.Open($groupDn, $null, 3, -1, 0, $UserName, $Password)
        foreach ($kind in @(@('CDOEXM.MailboxStoreDB', $group.MailboxStoreDBs), @('CDOEXM.PublicStoreDB', $group.PublicStoreDBs))) {
            foreach ($dn in $kind[1]) {
                $db = New-Object -ComObject $kind[0]
                $db.DataSource.Open($dn, $null, 3, -1, 0, $UserName, $Password)
                if ($db.Name -eq $StoreName) { return $db }
            }
        }
    }
    throw "No store named '$StoreName' on server $ComputerName."
}

$db = Find-Store $Name
$db.Dismount()

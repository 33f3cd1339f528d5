# qrdr-script: qrdr:Dismount-ExchangeStore
# Dismounts one mailbox or public folder store of this server by its name (CDOEXM Dismount()).
# -ComputerName: the Exchange server (default this one; a Windows 2000 server from the management host).
param(
    [Parameter(Mandatory = $true)][string]$Name,
    [string]$ComputerName = $env:COMPUTERNAME
)

$ErrorActionPreference = 'Stop'

function Find-Store([string]$StoreName) {
    $server = New-Object -ComObject CDOEXM.ExchangeServer
    $server.DataSource.Open($ComputerName)
    foreach ($groupDn in $server.StorageGroups) {
        $group = New-Object -ComObject CDOEXM.StorageGroup
        $group.DataSource.Open($groupDn)
        foreach ($kind in @(@('CDOEXM.MailboxStoreDB', $group.MailboxStoreDBs), @('CDOEXM.PublicStoreDB', $group.PublicStoreDBs))) {
            foreach ($dn in $kind[1]) {
                $db = New-Object -ComObject $kind[0]
                $db.DataSource.Open($dn)
                if ($db.Name -eq $StoreName) { return $db }
            }
        }
    }
    throw "No store named '$StoreName' on server $ComputerName."
}

$db = Find-Store $Name
$db.Dismount()

# qrdr-script: qrdr:Set-ExchangeStore
# Points a store at its database files (seed step 5: the same paths as production) and sets
# "Do not mount this store at startup" (step 11). The paths are written to the store's AD
# object with ADSI (msExchEDBFile, msExchSLVFile): CDOEXM's MoveDataFiles would move files
# that, on a standby, are not there yet.
# -ComputerName: the Exchange server (default this one; a Windows 2000 server from the management host).
param(
    [Parameter(Mandatory = $true)][string]$Name,
    [string]$EdbPath,
    [string]$StmPath,
    [object]$MountAtStartup,
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
                if ($db.Name -eq $StoreName) { return @($db, $dn) }
            }
        }
    }
    throw "No store named '$StoreName' on server $ComputerName."
}

$found = Find-Store $Name
$db = $found[0]
if ($EdbPath -or $StmPath) {
    $entry = [ADSI]('LDAP://' + $found[1])
    if ($EdbPath) { $entry.Put('msExchEDBFile', $EdbPath) }
    if ($StmPath) { $entry.Put('msExchSLVFile', $StmPath) }
    $entry.SetInfo()
}
if ($MountAtStartup -ne $null) {
    $db.DataSource.Open($found[1])
    $db.Enabled = [bool]$MountAtStartup
    $db.DataSource.Save()
}

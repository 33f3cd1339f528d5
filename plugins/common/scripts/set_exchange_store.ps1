# qrdr-script: qrdr:Set-ExchangeStore
# Points a store at its database files (seed step 5: the same paths as production) and sets
# "Do not mount this store at startup" (step 11). The paths are written to the store's AD
# object with ADSI (msExchEDBFile, msExchSLVFile): CDOEXM's MoveDataFiles would move files
# that, on a standby, are not there yet.
# -ComputerName: the Exchange server (default this one; a Windows 2000 server from the management host).
# -UserName/-Password: the domain account every bind to the directory uses (CDO's Open takes them,
# as does DirectoryEntry): a remoting session holds no credentials of its own for a domain controller.
param(
    [Parameter(Mandatory = $true)][string]$Name,
    [string]$EdbPath,
    [string]$StmPath,
    [object]$MountAtStartup,
    [string]$ComputerName = $env:COMPUTERNAME,
    [Parameter(Mandatory = $true)][string]$UserName,
    [Parameter(Mandatory = $true)][string]$Password
)

$ErrorActionPreference = 'Stop'

# qrdr-include: find_store.ps1

$found = Find-Store $Name
$db = $found[0]
if ($EdbPath -or $StmPath) {
    $entry = New-Object System.DirectoryServices.DirectoryEntry(('LDAP://' + $found[1]), $UserName, $Password)
    if ($EdbPath) { $entry.Put('msExchEDBFile', $EdbPath) }
    if ($StmPath) { $entry.Put('msExchSLVFile', $StmPath) }
    $entry.SetInfo()
}
if ($MountAtStartup -ne $null) {
    $db.DataSource.Open($found[1], $null, 3, -1, 0, $UserName, $Password)
    $db.Enabled = [bool]$MountAtStartup
    $db.DataSource.Save()
}

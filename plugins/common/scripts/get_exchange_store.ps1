# qrdr-script: qrdr:Get-ExchangeStore
# One object per mailbox and public folder store of this server, read through CDOEXM
# the way Exchange System Manager shows them (Database tab): paths, mounted, mount at startup.
# -ComputerName: the Exchange server (default this one; a Windows 2000 server from the management host).
# -UserName/-Password: the domain account every bind to the directory uses (CDO's Open takes them,
# as does DirectoryEntry): a remoting session holds no credentials of its own for a domain controller.
# Mode 1 (adModeRead): this script only reads.
param(
    [string]$ComputerName = $env:COMPUTERNAME,
    [Parameter(Mandatory = $true)][string]$UserName,
    [Parameter(Mandatory = $true)][string]$Password
)

$ErrorActionPreference = 'Stop'

# qrdr-include: storage_groups.ps1

foreach ($group in Get-StorageGroup 1) {
    $entries = @()
    foreach ($dn in $group.MailboxStoreDBs) { $entries += ,@('Mailbox', 'CDOEXM.MailboxStoreDB', $dn) }
    foreach ($dn in $group.PublicStoreDBs) { $entries += ,@('Public', 'CDOEXM.PublicStoreDB', $dn) }
    foreach ($entry in $entries) {
        $db = New-Object -ComObject $entry[1]
        $db.DataSource.Open($entry[2], $null, 1, -1, 0, $UserName, $Password)
        New-Object PSObject -Property @{
            Name           = $db.Name
            StorageGroup   = $group.Name
            Type           = $entry[0]
            EdbPath        = $db.DBPath
            StmPath        = $db.SLVPath
            LogPath        = $group.LogFilePath
            SystemPath     = $group.SystemFilePath
            # CDOEXM Status: 0 = cdoexmOnline (mounted), 1 = cdoexmOffline.
            Mounted        = ($db.Status -eq 0)
            # Enabled is the inverse of "Do not mount this store at startup".
            MountAtStartup = [bool]$db.Enabled
        }
    }
}

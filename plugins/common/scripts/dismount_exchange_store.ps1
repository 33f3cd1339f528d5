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

# qrdr-include: find_store.ps1

$db = (Find-Store $Name)[0]
$db.Dismount()

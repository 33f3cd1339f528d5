# qrdr-fragment: store-by-name parameters
# Included first by the scripts that act on one store or storage group of a server by its name
# (# qrdr-include: store_by_name_parameters.ps1): their param block, and errors that stop them.
# -Name: the store's (or storage group's) name, as Exchange System Manager shows it.
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

# qrdr-script: qrdr:Remove-OutlookProfile
# Deletes the Outlook (MAPI) profile named -Name of the connected user, or every profile
# without -Name (cleanup appendix: "Delete the Outlook profile of the Exchange user").
# Writes the names of the profiles removed.
param(
    [string]$Name
)

$ErrorActionPreference = 'Stop'
$root = 'HKCU:\Software\Microsoft\Windows NT\CurrentVersion\Windows Messaging Subsystem\Profiles'
if (-not (Test-Path -LiteralPath $root)) { return }
foreach ($profile in @(Get-ChildItem -LiteralPath $root)) {
    if (-not $Name -or $profile.PSChildName -eq $Name) {
        Remove-Item -LiteralPath $profile.PSPath -Recurse -Force
        $profile.PSChildName
    }
}

# qrdr-script: qrdr:Find-LockingProcess
# The processes that hold a file open under Path (the file itself or anything in the folder):
# after an Exchange uninstall a process keeps exchmem.dll and its friends loaded, so they cannot
# be deleted until it is stopped. Windows 2003 has no handle listing without extra tools, but a
# DLL or EXE held open is a loaded module, which Get-Process shows.
# Output: one object per process with Id, ProcessName, Path.
# -ComputerName: the Exchange server (default this one; a Windows 2000 server from the management host).
param(
    [Parameter(Mandatory = $true)][string]$Path
)

$ErrorActionPreference = 'Stop'
$full = [System.IO.Path]::GetFullPath($Path).TrimEnd('\')
$prefix = $full + '\'

foreach ($process in Get-Process) {
    $modules = @()
    try {
        $modules = @($process.Modules)
    } catch {
        # System processes (Idle, System, csrss) refuse to list their modules.
        continue
    }
    $held = @($modules | Where-Object {
        $_.FileName -and ($_.FileName -eq $full -or $_.FileName.StartsWith($prefix, [System.StringComparison]::OrdinalIgnoreCase))
    })
    if ($held.Count -gt 0) {
        $found = @{ Id = $process.Id; ProcessName = $process.ProcessName; Path = $process.Path }
        New-Object PSObject -Property $found | Select-Object -Property @('Id', 'ProcessName', 'Path')
    }
}

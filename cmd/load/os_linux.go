package main

import (
	"os/exec"
	"syscall"
)

// fsType names the file system under path, for the report: fsync on tmpfs
// costs nothing, and the durable figures would mean nothing there.
func fsType(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "unknown file system"
	}
	switch uint64(st.Type) {
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x2FC12FC1:
		return "zfs"
	case 0x794C7630:
		return "overlayfs"
	case 0x01021994:
		return "tmpfs"
	}
	return "unknown file system"
}

// dieWithParent makes a target exit when load does, even if load is killed
// with no chance to stop it: a stray serve would hold its port and files.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

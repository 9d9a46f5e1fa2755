//go:build !linux

package main

import "os/exec"

// fsType is only known on Linux.
func fsType(string) string { return "unknown file system" }

// dieWithParent needs Linux's parent-death signal; elsewhere load stops its
// targets itself on the way out.
func dieWithParent(*exec.Cmd) {}

package main

import (
	"fmt"
	"os"
)

// readPrivate reads a dev credential file (webhook secret, admin token) and
// narrows it to its owner first: a copy or an old version may have left it
// readable by others, and it must never stay so once orderflow uses it.
func readPrivate(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, info.Mode().Perm()&0o700); err != nil {
			return nil, fmt.Errorf("%s is readable by others and cannot be narrowed to its owner: %w", path, err)
		}
	}
	return os.ReadFile(path)
}

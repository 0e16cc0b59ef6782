package campaign

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// ErrLocked means another mailblast is running this campaign.
var ErrLocked = errors.New("campaign is locked by another running mailblast")

// Lock takes the campaign's lock file in stateDir without waiting. The
// kernel drops an flock when its process dies, even by kill -9, so a stale
// lock cannot outlive a crash.
func Lock(stateDir, name string) (unlock func(), err error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := lockPath(stateDir, name)
	fl := flock.New(path, flock.SetPermissions(0o600)) // the state directory's files are the owner's alone
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q (lock file %s)", ErrLocked, name, path)
	}
	// A lock that cannot be released is released by the process's exit.
	return func() { _ = fl.Unlock() }, nil
}

func lockPath(stateDir, name string) string {
	return filepath.Join(stateDir, "campaign-"+FileName(name)+".lock")
}

// FileName is a campaign name as a file name (its lock, its journal, its
// report page). A name that needed characters replaced gets a short hash of
// the original, so "a/b" and "a_b" never share a lock (and so never run at
// once unlocked).
func FileName(name string) string {
	b := []byte(name)
	changed := false
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			b[i], changed = '_', true
		}
	}
	if changed {
		sum := sha256.Sum256([]byte(name))
		return string(b) + "-" + hex.EncodeToString(sum[:4])
	}
	return string(b)
}

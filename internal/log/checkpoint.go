package log

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fjordstream/fjord/internal/vfs"
)

// File names inside a partition folder.
const (
	checkpointFile      = "log-checkpoint"
	epochCheckpointFile = "leader-epoch-checkpoint"
	tmpSuffix           = ".tmp"
)

const checkpointMagic = "fjord-log-checkpoint v1"

// checkpoint is what survives a restart besides the segments.
type checkpoint struct {
	// recoveryPoint: every offset below it was fsynced when written.
	recoveryPoint int64
	// logStartOffset: records below it are deleted (DeleteRecords).
	logStartOffset int64
}

func (c checkpoint) encode() []byte {
	body := fmt.Sprintf("%s\nrecovery-point %d\nlog-start-offset %d\n", checkpointMagic, c.recoveryPoint, c.logStartOffset)
	return fmt.Appendf([]byte(body), "crc32c %08x\n", crc32.Checksum([]byte(body), crc32.MakeTable(crc32.Castagnoli)))
}

// decodeCheckpoint parses the checkpoint file strictly; any deviation is an
// error and the caller falls back to a full recovery.
func decodeCheckpoint(b []byte) (checkpoint, error) {
	i := bytes.LastIndex(b, []byte("crc32c "))
	if i < 0 {
		return checkpoint{}, errors.New("no crc line")
	}
	body, crcLine := b[:i], strings.TrimSuffix(string(b[i+len("crc32c "):]), "\n")
	want, err := strconv.ParseUint(crcLine, 16, 32)
	if err != nil {
		return checkpoint{}, fmt.Errorf("crc line: %w", err)
	}
	if got := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)); got != uint32(want) {
		return checkpoint{}, fmt.Errorf("crc %08x, computed %08x", want, got)
	}
	var c checkpoint
	n, err := fmt.Sscanf(string(body), checkpointMagic+"\nrecovery-point %d\nlog-start-offset %d\n", &c.recoveryPoint, &c.logStartOffset)
	if err != nil || n != 2 {
		return checkpoint{}, fmt.Errorf("parse: %v", err)
	}
	if c.recoveryPoint < 0 || c.logStartOffset < 0 {
		return checkpoint{}, fmt.Errorf("negative offsets %+v", c)
	}
	return c, nil
}

// writeAtomic replaces dir/name with data: write a temp file, fsync it,
// rename it over name, fsync the folder.
func writeAtomic(fsys vfs.FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+tmpSuffix)
	if err := writeFile(fsys, tmp, data, true); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return syncDir(fsys, dir)
}

// syncDir fsyncs a folder so that created, renamed and removed entries are
// durable.
func syncDir(fsys vfs.FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}

// makeDir creates dir if it is missing and makes the new folders' names
// durable by fsyncing their parents: without that a power loss could take
// a new log's whole folder, acknowledged appends and all. An existing
// folder costs one stat.
func makeDir(fsys vfs.FS, dir string) error {
	var missing []string // dir and its missing parents, deepest first
	for d := dir; ; d = filepath.Dir(d) {
		_, err := fsys.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range missing {
		if err := syncDir(fsys, filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

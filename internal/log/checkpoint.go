package log

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
func writeAtomic(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+tmpSuffix)
	if err := writeFile(tmp, data, true); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a folder so that created, renamed and removed entries are
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}

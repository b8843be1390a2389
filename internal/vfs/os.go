package vfs

import "os"

// OS returns the operating system's file system: a thin wrapper over
// package os. Its files are *os.File underneath (OSFile gives them back),
// and wrapping one costs no allocation: the wrapper is a single pointer.
func OS() FS { return osFS{} }

type osFS struct{}

// osFile embeds *os.File, whose methods implement File.
type osFile struct{ *os.File }

// OSFile returns the underlying *os.File (see the package's OSFile).
func (f osFile) OSFile() *os.File { return f.File }

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }

// SyncDir opens the folder, fsyncs it and closes it.
func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

package log

// fail records a write-side I/O failure: the log refuses writes from now
// on (ErrStorage), since after a failed write or fsync what the files hold
// is unknown (fsyncgate), and the first failure is reported to
// Options.OnFailure, so the log directory can be taken offline as a whole.
// Caller holds mu.
func (l *Log) fail(err error) {
	if l.failed != nil {
		return
	}
	l.failed = err
	if l.onFailure == nil {
		l.logger.Error("log: storage failure; the log refuses writes", "error", err.Error())
		return
	}
	l.onFailure(err) // the owner says it once for the whole directory

}

// Fail makes the log refuse writes with ErrStorage, as if it had failed
// itself: its owner calls it when another log of the same directory failed,
// since the disk under them is the same (Kafka takes the whole log
// directory offline). Options.OnFailure is not called.
func (l *Log) Fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		l.failed = err
	}
}

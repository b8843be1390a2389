package node

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLogDirFailed: the node's log directory failed (a write or fsync error)
// and the node stopped its broker role; Kafka halts the broker then.
var ErrLogDirFailed = errors.New("the log directory failed")

// dirFailed is the partition manager's OnDirFailure: the first storage
// failure of the data directory. It may run with a log's lock held, so it
// only says so once and wakes watchDir.
func (n *Node) dirFailed(err error) {
	n.logger.Error("log directory failed: stopping the broker (its replicas are offline; replace the disk and restart the node)",
		"dir", n.dataDir, "err", err)
	select {
	case n.dirFailure <- err:
	default:
	}
}

// watchDir waits for the data directory to fail and then stops the broker
// role as Kafka's ReplicaManager.handleLogDirFailure does with its last log
// directory: every replica goes offline, the follower fetchers stop, and the
// controller moves the leaderships away (a controlled shutdown, the
// quickest correct signal Fjord's controller has: it takes the broker out
// of every ISR and fences it). Then Failed is closed; the owner of the node
// (cmd/fjord, an embedding program) decides what to do, as Kafka's
// Exit.halt is the process's business, not the library's.
func (n *Node) watchDir(ctx context.Context) {
	var cause error
	select {
	case <-ctx.Done():
		return
	case cause = <-n.dirFailure:
	}
	n.parts.FailDir(cause)
	if n.repl != nil {
		n.repl.Close()
	}
	if n.lifecycle != nil && !n.standalone() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := n.lifecycle.ControlledShutdown(sctx); err != nil {
			n.logger.Warn("could not hand the leaderships over after the log directory failed; the controller fences this broker when its session expires", "err", err)
		}
		cancel()
		n.lifecycle.Close() // no heartbeat may unfence it again
	}
	n.abort.Store(true) // the controlled shutdown is done (or hopeless)
	n.failErr = fmt.Errorf("node %d: %w: %s: %w", n.cfg.Broker.NodeID, ErrLogDirFailed, n.dataDir, cause)
	close(n.failed)
}

// Failed is closed when the node stopped its broker role on its own
// because its data directory failed (Err says why). The node then serves
// no partition and leads none; its owner should Close it (`fjord server`
// exits with status 1, as Kafka halts).
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is why Failed was closed (wrapping ErrLogDirFailed and the I/O
// error), nil while the node is healthy.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

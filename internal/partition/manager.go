package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fjordstream/fjord/internal/config"
	"github.com/fjordstream/fjord/internal/log"
	"github.com/fjordstream/fjord/internal/metadata"
	"github.com/fjordstream/fjord/internal/record"
	"github.com/fjordstream/fjord/internal/vfs"
)

// ManagerConfig is what a node's replicas share.
type ManagerConfig struct {
	// Dir is the log directory holding the partition folders.
	Dir string
	// NodeID is this node's broker ID.
	NodeID int32
	// ReplicaLagTimeMax is replica.lag.time.max.ms (0: Kafka's default).
	ReplicaLagTimeMax time.Duration
	// FS holds Dir: every file operation of the replicas (their logs,
	// partition.metadata, producer snapshots, high-watermark checkpoints)
	// goes through it. Nil is the operating system's.
	FS vfs.FS
	// Decompression, if set, is charged for the memory that validating
	// compressed batches inflates into; DecompressionBytes is its
	// capacity.
	Decompression      record.MemoryBudget
	DecompressionBytes int64
	// OnDirFailure, if set, is told once when a storage error takes the
	// log directory offline (see FailDir), so the node can stop its
	// broker role. It may run with a replica's lock held: it must not
	// call back into the Manager or its replicas; nil logs the failure.
	OnDirFailure func(error)
	// OnFsync, if set, is every hosted log's Options.OnFsync: told how
	// long each fsync round took.
	OnFsync func(time.Duration)
	// IO, if set, is every hosted log's Options.IO.
	IO *log.IOStats
}

// Manager owns the replicas hosted by one node, keyed by topic partition,
// and their folders under one log directory.
type Manager struct {
	nodeID  int32
	lag     time.Duration
	dir     string
	fs      vfs.FS // holds dir; never nil
	logger  *slog.Logger
	logOpts log.Options
	decomp  *record.Decompressor
	delayed *Delayed // one registry for every hosted replica
	// proposer sends ISR changes to the controller; guarded by mu.
	proposer *func(ISRProposal)
	// health is shared by every replica: a failure takes them all offline.
	health       *dirHealth
	isrStats     ISRStats // every hosted replica's ISR changes as leader
	onDirFailure func(error)

	mu    sync.RWMutex // guards parts and producerIDExpiration
	parts map[ID]*Partition
	// producerIDExpiration is producer.id.expiration.ms for every replica.
	producerIDExpiration time.Duration
}

// NewManager returns a manager of the replicas in cfg.Dir.
func NewManager(cfg ManagerConfig, logger *slog.Logger) *Manager {
	decomp := record.NewDecompressor(0)
	if cfg.Decompression != nil {
		decomp = record.NewBudgetedDecompressor(0, cfg.Decompression, cfg.DecompressionBytes)
	}
	dir := cfg.Dir
	lag := cfg.ReplicaLagTimeMax
	if lag <= 0 {
		lag = DefaultReplicaLagTimeMax
	}
	fsys := cfg.FS
	if fsys == nil {
		fsys = vfs.OS()
	}
	m := &Manager{nodeID: cfg.NodeID, lag: lag, logOpts: log.Options{FS: fsys, Logger: logger, Decompressor: decomp}, decomp: decomp, dir: dir, fs: fsys, logger: logger, parts: map[ID]*Partition{},
		delayed:              NewDelayed(0),
		producerIDExpiration: DefaultProducerIDExpiration,
		health:               &dirHealth{}, onDirFailure: cfg.OnDirFailure}
	m.logOpts.OnFailure = m.logFailed
	m.logOpts.OnFsync = cfg.OnFsync
	m.logOpts.IO = cfg.IO
	return m
}

// SetProducerIDExpiration sets producer.id.expiration.ms for the hosted
// replicas and those created later (Kafka's default until called).
func (m *Manager) SetProducerIDExpiration(d time.Duration) {
	if d <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.producerIDExpiration = d
	for _, p := range m.parts {
		p.SetProducerIDExpiration(d)
	}
}

// ISRStats counts the ISR changes committed for the partitions this node
// leads, Kafka's IsrShrinksPerSec and IsrExpandsPerSec (as totals).
type ISRStats struct {
	Shrinks, Expands atomic.Int64
}

// ISRStats returns the node's ISR change counts.
func (m *Manager) ISRStats() *ISRStats { return &m.isrStats }

// Delayed is the registry of operations parked on the hosted replicas.
func (m *Manager) Delayed() *Delayed { return m.delayed }

// Dir returns the log directory.
func (m *Manager) Dir() string { return m.dir }

// FolderFor returns the folder of a partition, named as Kafka names it.
func (m *Manager) FolderFor(id ID) string {
	return filepath.Join(m.dir, id.Topic+"-"+strconv.Itoa(int(id.Partition)))
}

// Get returns a hosted partition or nil.
func (m *Manager) Get(id ID) *Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.parts[id]
}

// All returns every hosted partition, sorted by topic and index.
func (m *Manager) All() []*Partition {
	m.mu.RLock()
	out := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID.Topic != out[j].ID.Topic {
			return out[i].ID.Topic < out[j].ID.Topic
		}
		return out[i].ID.Partition < out[j].ID.Partition
	})
	return out
}

// Create opens (creating if missing) the replica of a partition and writes
// its partition.metadata file so the folder names its topic ID, as Kafka's do.
// A new folder's name is made durable (the log directory is fsynced) before
// anything is written in it: otherwise a power cut could take the folder,
// and the acknowledged records in it, with it.
func (m *Manager) Create(id ID, topicID metadata.TopicID, cfg config.Topic, leaderEpoch int32) (*Partition, error) {
	return m.create(id, topicID, cfg, &Leadership{Leader: m.nodeID, LeaderEpoch: leaderEpoch, Replicas: []int32{m.nodeID}, ISR: []int32{m.nodeID}})
}

// create opens (creating) a replica and gives it leadership l.
func (m *Manager) create(id ID, topicID metadata.TopicID, cfg config.Topic, l *Leadership) (*Partition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.parts[id]; p != nil {
		return p, nil
	}
	dir := m.FolderFor(id)
	if err := m.dropStaleFolder(dir, topicID); err != nil {
		return nil, fmt.Errorf("partition %s: %w", id, err)
	}
	if err := metadata.MkdirAll(m.fs, dir); err != nil {
		return nil, fmt.Errorf("partition %s: %w", id, err)
	}
	pm := fmt.Sprintf("version: 0\ntopic_id: %s\n", topicID)
	if err := metadata.WriteFileAtomic(m.fs, filepath.Join(dir, "partition.metadata"), []byte(pm)); err != nil {
		return nil, fmt.Errorf("partition %s: %w", id, err)
	}
	p, err := openReplica(id, topicID, dir, cfg, m.nodeID, m.logOpts, m.decomp)
	if err != nil {
		return nil, err
	}
	p.ApplyLeadership(*l, time.Now())
	p.setReplicaConfig(int(cfg.MinInsyncReplicas), m.lag)
	p.SetProducerIDExpiration(m.producerIDExpiration)
	p.delayed = m.delayed
	p.health = m.health
	p.isrStats = &m.isrStats
	if m.proposer != nil {
		p.proposer.Store(m.proposer)
	}
	m.parts[id] = p
	return p, nil
}

// Remove deletes a hosted partition and its folder.
func (m *Manager) Remove(id ID) error {
	m.mu.Lock()
	p := m.parts[id]
	delete(m.parts, id)
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	// No longer a replica: produces waiting on it answer
	// NOT_LEADER_OR_FOLLOWER now rather than at their timeout.
	p.ApplyLeadership(Leadership{Leader: -1, LeaderEpoch: p.LeaderEpoch(), PartitionEpoch: math.MaxInt32}, time.Now())
	return p.Delete()
}

// RemoveOrphans deletes partition folders whose topic ID is not in img,
// and folders whose removal had begun (renamed to ...-delete by Delete):
// leftovers of a topic deletion interrupted by a crash (the metadata change
// is made durable first, the folders are removed after). It also deletes
// the folders of partitions img no longer assigns to this node.
func (m *Manager) RemoveOrphans(img *metadata.Image) error {
	entries, err := m.fs.ReadDir(m.dir)
	if err != nil {
		return fmt.Errorf("log dir %s: %w", m.dir, err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if strings.HasSuffix(e.Name(), deletedSuffix) && strings.Contains(e.Name(), ".") {
			m.logger.Warn("removing partition folder whose deletion a crash interrupted", "folder", e.Name())
			if err := m.fs.RemoveAll(filepath.Join(m.dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		idText, err := readTopicID(m.fs, filepath.Join(m.dir, e.Name()))
		if err != nil {
			continue // not a partition folder of ours
		}
		id, err := metadata.ParseTopicID(idText)
		if t := img.TopicByID(id); err == nil && t != nil {
			// Checked and moved out of the partition's name under mu, so
			// a metadata change replayed meanwhile that assigns the
			// partition here again either finds it hosted (not stray) or
			// creates it afresh in an empty folder.
			m.mu.Lock()
			stray := m.strayLocked(t, e.Name())
			var gone string
			if stray {
				// Reassigned away while this broker was down: it missed
				// the change that would have deleted it (Kafka's stray
				// replicas, KAFKA-14616).
				m.logger.Warn("removing partition folder of a replica no longer assigned here", "folder", e.Name(), "node_id", m.nodeID)
				gone, err = m.renameAway(e.Name(), id)
			}
			m.mu.Unlock()
			if stray {
				if err == nil {
					err = m.fs.RemoveAll(gone)
				}
				errs = append(errs, err)
			}
			continue
		}
		m.logger.Warn("removing partition folder of a deleted topic", "folder", e.Name(), "topic_id", idText)
		gone, err := m.renameAway(e.Name(), id)
		if err == nil {
			err = m.fs.RemoveAll(gone)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// renameAway renames folder out of its partition's name, as Delete does
// (<folder>.<topic ID>-delete, the rename made durable), so a crash while
// its files are removed leaves a folder RemoveOrphans finishes, never a
// partial one under the partition's name.
func (m *Manager) renameAway(folder string, topicID [16]byte) (string, error) {
	gone := filepath.Join(m.dir, fmt.Sprintf("%s.%x%s", folder, topicID, deletedSuffix))
	if err := m.fs.Rename(filepath.Join(m.dir, folder), gone); err != nil {
		return "", fmt.Errorf("remove partition folder %s: %w", folder, err)
	}
	if err := metadata.SyncDir(m.fs, m.dir); err != nil {
		return "", fmt.Errorf("remove partition folder %s: %w", folder, err)
	}
	return gone, nil
}

// strayLocked reports whether folder holds a partition of t that t does not
// assign to this node and that is not hosted. m.mu is held.
func (m *Manager) strayLocked(t *metadata.Topic, folder string) bool {
	i := strings.LastIndexByte(folder, '-')
	if i < 0 || folder[:i] != t.Name {
		return false
	}
	n, err := strconv.Atoi(folder[i+1:])
	if err != nil || n < 0 || n >= len(t.Partitions) {
		return false
	}
	return !slices.Contains(t.Partitions[n].Replicas, m.nodeID) && m.parts[ID{Topic: t.Name, Partition: int32(n)}] == nil
}

// readTopicID returns the topic ID that the partition.metadata file of dir
// names, as text ("" when the file names none).
func readTopicID(fsys vfs.FS, dir string) (string, error) {
	b, err := vfs.ReadFile(fsys, filepath.Join(dir, "partition.metadata"))
	if err != nil {
		return "", err
	}
	var idText string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "topic_id:"); ok {
			idText = strings.TrimSpace(v)
		}
	}
	return idText, nil
}

// dropStaleFolder removes dir when its partition.metadata names another
// topic ID: the folder of a deleted topic of the same name, whose removal
// a crash undid (the removal is not fsynced) before the metadata replay
// recreated the name. Opening it would give the new topic the old one's
// records. A folder with no readable ID is kept (see Create).
func (m *Manager) dropStaleFolder(dir string, topicID metadata.TopicID) error {
	text, err := readTopicID(m.fs, dir)
	if err != nil {
		return nil
	}
	if have, err := metadata.ParseTopicID(text); err != nil || have == topicID {
		return nil
	}
	m.logger.Warn("removing partition folder of a deleted topic of the same name", "folder", filepath.Base(dir), "topic_id", text, "new_topic_id", topicID.String())
	return m.fs.RemoveAll(dir)
}

// Maintain runs Partition.Maintain on every replica, logging failures. A
// storage failure takes the log directory offline (reportFailure); once it
// is offline there is nothing to maintain.
func (m *Manager) Maintain(now time.Time, enforceRetention bool) {
	for _, p := range m.All() {
		if m.DirFailure() != nil {
			return
		}
		err := p.Maintain(now, enforceRetention)
		switch {
		case err == nil:
		case isStorageFailure(err):
			m.reportFailure(err)
		default:
			m.logger.Error("partition maintenance failed", "topic", p.ID.Topic, "partition", p.ID.Partition, "err", err)
		}
	}
}

// Close closes every replica.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for id, p := range m.parts {
		if err := p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("partition %s: %w", id, err))
		}
	}
	m.parts = map[ID]*Partition{}
	return errors.Join(errs...)
}

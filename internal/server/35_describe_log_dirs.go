package server

// DescribeLogDirs (key 35), v0-v4: the node's one log directory with the
// size of every hosted partition (or of the requested ones), and v4's total
// and usable bytes of the file system.

import (
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleDescribeLogDirs(req *kmsg.DescribeLogDirsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.parts.Dir()
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir.Dir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	}
	want := map[string]map[int32]bool{}
	for _, t := range req.Topics {
		want[t.Topic] = map[int32]bool{}
		for _, p := range t.Partitions {
			want[t.Topic][p] = true
		}
	}
	byTopic := map[string]int{}
	for _, p := range b.parts.All() {
		if req.Topics != nil && !want[p.ID.Topic][p.ID.Partition] {
			continue
		}
		i, ok := byTopic[p.ID.Topic]
		if !ok {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = p.ID.Topic
			dir.Topics = append(dir.Topics, t)
			i = len(dir.Topics) - 1
			byTopic[p.ID.Topic] = i
		}
		sp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		sp.Partition, sp.Size = p.ID.Partition, p.Size()
		dir.Topics[i].Partitions = append(dir.Topics[i].Partitions, sp)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp
}

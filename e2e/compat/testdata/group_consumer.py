# The seed's KafkaConsumer with a group_id: consume up to MAX records (or
# until TIMEOUT_MS pass without one), print each value on stdout, commit,
# close. With WATCH=1 it subscribes with a rebalance listener that prints
# each new assignment on stderr, so a test can see partitions move.
#
# usage: group_consumer.py BOOTSTRAP GROUP TOPIC MAX TIMEOUT_MS WATCH
import sys
from kafka import KafkaConsumer, ConsumerRebalanceListener

bootstrap, group, topic = sys.argv[1], sys.argv[2], sys.argv[3]
limit, timeout_ms, watch = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == '1'


class Printer(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        pass

    def on_partitions_assigned(self, assigned):
        parts = sorted(tp.partition for tp in assigned)
        print('assigned: ' + ','.join(str(p) for p in parts), file=sys.stderr, flush=True)


if watch:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset='earliest', consumer_timeout_ms=timeout_ms,
                             enable_auto_commit=False)
    consumer.subscribe([topic], listener=Printer())
else:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset='earliest', consumer_timeout_ms=timeout_ms,
                             enable_auto_commit=False)

n = 0
for message in consumer:
    print(message.value.decode(), flush=True)
    n += 1
    if n >= limit:
        break
# Commits the position after the last record returned above.
consumer.commit()
consumer.close()

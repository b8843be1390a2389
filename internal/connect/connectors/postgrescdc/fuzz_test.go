package postgrescdc

import (
	"testing"

	"github.com/fjordstream/fjord/internal/connect"
)

// FuzzDecodeText feeds arbitrary column text, as pgoutput sends it, to the
// value decoder of every type it maps: it returns a value that fits the
// column's schema or an error, never a panic.
func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{"-7", "1.5", "123.456789", "NaN", "t", "\\x00ff", "2024-05-06 07:08:09.5+05:30",
		"infinity", "-infinity", "10:11:12.25", "2024-02-29", "{\"a\":1}", "00000000-0000-0000-0000-000000000000", "", "1e400"} {
		f.Add(uint8(0), s)
	}
	oids := []uint32{oidBool, oidBytea, oidChar, oidName, oidInt8, oidInt2, oidInt4, oidText, oidOID, oidJSON, oidFloat4, oidFloat8,
		oidBPChar, oidVarchar, oidDate, oidTime, oidTimestamp, oidTimestamptz, oidNumeric, oidUUID, oidJSONB}
	f.Fuzz(func(t *testing.T, which uint8, text string) {
		oid := oids[int(which)%len(oids)]
		for _, typmod := range []int32{-1, (10<<16 | 2) + 4} {
			col := column{name: "c", oid: oid, typmod: typmod}
			col.schema = columnSchema(oid, typmod, true)
			v, err := decode(&col, []byte(text))
			if err != nil {
				continue
			}
			if err := connect.Validate(col.schema, v); err != nil {
				t.Fatalf("oid %d typmod %d %q: %v does not fit its schema: %v", oid, typmod, text, v, err)
			}
		}
	})
}

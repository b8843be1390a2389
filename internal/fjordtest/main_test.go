package fjordtest

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeBrokerEnv makes the test binary act as a tiny broker process for the
// Process tests, so they exercise real fork/exec, signals and pipes without
// building Fjord. Its value selects a behaviour (see fakeBroker).
const fakeBrokerEnv = "FJORDTEST_FAKE_BROKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeBrokerEnv); mode != "" {
		os.Exit(fakeBroker(mode, os.Args[1:]))
	}
	Main(m)
}

// fakeBroker follows the `fjord server` contract well enough for the tests:
//
//	serve        print the ready line; answer each request frame with its
//	             correlation ID and this start's number (counted in the data
//	             directory); exit 0 on SIGTERM
//	ignore-term  like serve, but ignore SIGTERM
//	exit         print "boom" and exit 3 before being ready
//	silent       never print the ready line
//	bad-addr     print a ready line with a malformed address
//	exit-first   exit 3 on the first start of its data directory, then serve
func fakeBroker(mode string, args []string) int {
	var dataDir, listen string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--data-dir":
			dataDir = args[i+1]
		case "--override":
			if v, ok := strings.CutPrefix(args[i+1], "listeners=PLAINTEXT://"); ok {
				listen, _, _ = strings.Cut(v, ",") // a cluster node lists its controller listener too
			}
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	switch mode {
	case "exit":
		fmt.Println("boom")
		return 3
	case "silent":
		select {}
	case "bad-addr":
		fmt.Println("ready: bootstrap=nonsense")
		select {}
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
	}
	countFile := filepath.Join(dataDir, "starts")
	b, _ := os.ReadFile(countFile)
	n, _ := strconv.Atoi(string(b))
	n++
	if err := os.WriteFile(countFile, []byte(strconv.Itoa(n)), 0o644); err != nil {
		fmt.Println(err)
		return 1
	}
	if mode == "exit-first" && n == 1 {
		fmt.Println("first start fails")
		return 3
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					f, err := readFrame(c)
					if err != nil || len(f) < 12 {
						return
					}
					resp := make([]byte, 12)
					binary.BigEndian.PutUint32(resp, 8)
					copy(resp[4:8], f[8:12])
					binary.BigEndian.PutUint32(resp[8:], uint32(n))
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	fmt.Println("fake broker warming up")
	fmt.Printf("fake broker ready: bootstrap=%s data=%s\n", ln.Addr(), dataDir)
	<-sigs
	fmt.Println("fake broker stopping")
	return 0
}

// Command goplugin measures pyharness beside hashicorp/go-plugin, the gRPC
// plugin system a team might reach for instead, in one interleaved run:
// the reference rows of `pyharness bench` (tiny echo p50, throughput of 8
// callers on 2 workers, start to first call, 1 MiB string echo, Go CPU and
// allocations per call) for pyharness, the os/exec NDJSON loop, the floor
// and a go-plugin Python plugin (plugin.py), all on the same interpreter.
//
// It is a module of its own so that pyharness's module does not depend on
// go-plugin and gRPC. The plugin needs Python's grpcio (Debian:
// python3-grpcio):
//
//	cd internal/benchkit/goplugin && go run . --python /usr/bin/python3
//
// --smoke makes a few calls of each kind and checks every reply: what CI
// runs so that this comparison keeps working.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"

	"github.com/pyharness/pyharness/internal/benchkit"
	"github.com/pyharness/pyharness/realpy"
)

//go:embed plugin.py
var pluginScript string

// SubjectGoPlugin is the go-plugin column's name.
const SubjectGoPlugin = "go-plugin"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("goplugin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	python := fs.String("python", "/usr/bin/python3", "the interpreter every subject runs on (it must import grpc)")
	rounds := fs.Int("rounds", 5, "measured rounds, after one warm-up round")
	calls := fs.Int("calls", 2000, "tiny echoes per subject per round, one at a time")
	through := fs.Int("throughput", 8000, "tiny echoes per subject per round that 8 callers share on 2 workers")
	big := fs.Int("big", 20, "1 MiB string echoes per subject per round")
	starts := fs.Int("starts", 3, "starts to first call per subject per round")
	smoke := fs.Bool("smoke", false, "one round of a few calls of each kind, every reply checked (CI)")
	asJSON := fs.Bool("json", false, "print the run as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := benchkit.RefConfig{Rounds: *rounds, Calls: *calls, ThroughputCalls: *through, Callers: 8, Workers: 2, BigCalls: *big, Starts: *starts}
	if *smoke {
		cfg = benchkit.RefConfig{Rounds: 1, Calls: 20, ThroughputCalls: 40, Callers: 8, Workers: 2, BigCalls: 2, Starts: 1}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if out, err := exec.CommandContext(ctx, *python, "-c", "import grpc").CombinedOutput(); err != nil {
		fmt.Fprintf(stderr, "goplugin: %s cannot import grpc (apt-get install python3-grpcio): %v\n%s", *python, err, out)
		return 1
	}
	ref, err := benchkit.RunReference(ctx, cfg, subjects(*python))
	if err != nil {
		fmt.Fprintf(stderr, "goplugin: %v\n", err)
		return 1
	}
	ref.Pinned = "not measured here (pyharness bench measures it)"
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(ref); err != nil {
			fmt.Fprintf(stderr, "goplugin: %v\n", err)
			return 1
		}
		return 0
	}
	ref.WriteTable(stdout)
	m := benchkit.DescribeMachine(ctx, *python)
	fmt.Fprintf(stdout, "\n%s (%s)\n", m.Line(), m.PyPath)
	return 0
}

// subjects are pyharness (a pool of real workers with WithPipelining through the public API),
// the NDJSON loop, the floor and go-plugin, all on python.
func subjects(python string) []benchkit.Subject {
	return []benchkit.Subject{
		{Name: benchkit.SubjectPyharness, Start: func(ctx context.Context, n int) (benchkit.Conn, error) {
			p, err := realpy.StartPool(ctx, realpy.WithSize(n), realpy.WithPython(python), realpy.WithPipelining())
			if err != nil {
				if p != nil {
					_ = p.Close()
				}
				return nil, err
			}
			return benchkit.CallerConn(p, p.Close), nil
		}},
		benchkit.NDJSONSubject(python),
		benchkit.FloorSubject(python),
		{Name: SubjectGoPlugin, Start: func(ctx context.Context, n int) (benchkit.Conn, error) {
			return startPlugins(python, n)
		}},
	}
}

// plugins are n go-plugin clients, each of one plugin process, handed to
// callers through a channel as the NDJSON and floor subjects hand theirs.
type plugins struct {
	all  []*plugin.Client
	free chan *echoClient
}

func startPlugins(python string, n int) (*plugins, error) {
	p := &plugins{free: make(chan *echoClient, n)}
	for range n {
		client := plugin.NewClient(&plugin.ClientConfig{
			HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "PYHARNESS_BENCH_PLUGIN", MagicCookieValue: "echo"},
			Plugins:          map[string]plugin.Plugin{"echo": echoPlugin{}},
			Cmd:              exec.Command(python, "-c", pluginScript),
			AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
			Logger:           hclog.NewNullLogger(),
		})
		p.all = append(p.all, client)
		rpc, err := client.Client()
		if err != nil {
			return nil, errors.Join(fmt.Errorf("start a go-plugin plugin: %w", err), p.Close())
		}
		raw, err := rpc.Dispense("echo")
		if err != nil {
			return nil, errors.Join(fmt.Errorf("dispense the echo plugin: %w", err), p.Close())
		}
		p.free <- raw.(*echoClient)
	}
	return p, nil
}

func (p *plugins) Echo(ctx context.Context, payload string) (string, error) {
	select {
	case c := <-p.free:
		defer func() { p.free <- c }()
		return c.echo(ctx, payload)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (p *plugins) Close() error {
	for _, c := range p.all {
		c.Kill() // Shutdown over gRPC, then the process is waited for
	}
	return nil
}

// echoPlugin is the go-plugin side of plugin.py: a gRPC client only.
type echoPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (echoPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the echo plugin is served by Python")
}

func (echoPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &echoClient{conn: conn}, nil
}

type echoClient struct{ conn *grpc.ClientConn }

func (c *echoClient) echo(ctx context.Context, payload string) (string, error) {
	var back []byte
	err := c.conn.Invoke(ctx, "/pyharness.bench.Echo/Echo", []byte(payload), &back,
		grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(8<<20), grpc.MaxCallSendMsgSize(8<<20))
	return string(back), err
}

// rawCodec sends a []byte as the message itself (plugin.py's messages).
type rawCodec struct{}

var _ encoding.Codec = rawCodec{}

func (rawCodec) Name() string { return "pyharness-bench-raw" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: marshal %T, want []byte", v)
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: unmarshal into %T, want *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

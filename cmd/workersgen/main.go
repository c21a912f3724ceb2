// Command workersgen writes typed clients and reflection-free dispatchers
// for the worker types of a package.
//
// Run it in a package directory, usually from a go:generate line:
//
//	//go:generate go run github.com/seed-29c11ff2/workers/cmd/workersgen
//
// For every type T of the package that embeds workers.Entrypoint it writes,
// to workers_gen.go:
//
//   - TClient, made by NewTClient(b *workers.Binding), whose methods mirror
//     T's RPC methods with a context first and an error last:
//     Add(ctx context.Context, a, b int) (int, error);
//   - a dispatcher that calls T's methods without reflection, which the
//     registry uses automatically when T is registered.
//
// The file records a hash of each type's method set; Register refuses a type
// whose methods changed since, so stale generated code fails loudly instead
// of calling the wrong method. Run go generate again to fix it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("o", "workers_gen.go", "output file, relative to the package directory")
	check := flag.Bool("check", false, "report whether the output file is up to date instead of writing it")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: workersgen [-o file] [-check] [package dir]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	dir := "."
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	if err := run(dir, *out, *check); err != nil {
		fmt.Fprintln(os.Stderr, "workersgen:", err)
		os.Exit(1)
	}
}

func run(dir, out string, check bool) error {
	src, err := Generate(dir, out)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, out)
	if check {
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if string(old) != string(src) {
			return fmt.Errorf("%s is stale: run go generate in %s", path, dir)
		}
		return nil
	}
	if src == nil {
		return fmt.Errorf("no type in %s embeds workers.Entrypoint", dir)
	}
	return os.WriteFile(path, src, 0o644)
}

package pytree

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestJunk(t *testing.T) {
	for name, want := range map[string]string{
		".#mod.py": "editor lock file", "#mod.py#": "editor auto-save file", ".mod.py.swp": "swap file", ".mod.py.swo": "swap file",
		"mod.py~": "backup file", "mod.py.bak": "backup file", "mod.py.orig": "backup file",
		"mod.py": "", ".hidden.py": "", "#": "", "a.swp": "",
	} {
		if got := Junk(name); got != want {
			t.Errorf("Junk(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestWalkReadsRegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "a.py"), []byte("a"), 0o644))
	must(os.Mkdir(filepath.Join(dir, "pkg"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "pkg", "b.py"), []byte("b"), 0o644))
	must(os.Mkdir(filepath.Join(dir, "__pycache__"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "__pycache__", "a.pyc"), []byte("c"), 0o644))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo.py"), 0o644))
	must(os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, ".#a.py")))
	must(os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling.py")))
	must(os.Symlink(dir, filepath.Join(dir, "pkg", "loop")))
	must(os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("n"), 0o644))

	var got []string
	isPy := func(rel string) bool { return filepath.Ext(rel) == ".py" }
	skipped, err := Walk(context.Background(), dir, isPy, nil, func(e Entry) error {
		got = append(got, e.Rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.py", "pkg/b.py"}; !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	var why []string
	for _, s := range skipped {
		rel, _ := filepath.Rel(dir, s.Path)
		why = append(why, rel+": "+s.Why)
	}
	want := []string{".#a.py: editor lock file", "dangling.py: dangling link", "fifo.py: not a regular file (fifo)", "pkg/loop: link loop"}
	if !slices.Equal(why, want) {
		t.Errorf("skipped %q, want %q", why, want)
	}
}

func TestWalkEndsWithItsContext(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Walk(ctx, dir, nil, nil, func(Entry) error { t.Fatal("read a file after the context ended"); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestWalkOfAMissingDirectoryIsEmpty(t *testing.T) {
	skipped, err := Walk(context.Background(), filepath.Join(t.TempDir(), "none"), nil, nil, func(Entry) error { return nil })
	if err != nil || len(skipped) != 0 {
		t.Fatalf("skipped %v, err %v", skipped, err)
	}
}

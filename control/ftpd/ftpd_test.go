package ftpd

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/user"
)

const adminPW, viewerPW, ftponlyPW = "ftp-admin-pw", "ftp-viewer-pw", "ftp-nosens-pw"

// startServer serves dir/files with users admin (full: ftp policy) and viewer (read: no
// ftp policy).
func startServer(t *testing.T) (url, files string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (apt-get install curl)")
	}
	dir := t.TempDir()
	files = filepath.Join(dir, "files")
	if err := os.Mkdir(files, 0o700); err != nil {
		t.Fatal(err)
	}
	ex := controltest.NewIn(t, dir)
	user.Register(ex, dir)
	root := &control.Session{User: "admin", ShowSensitive: true}
	if _, err := ex.Exec(context.Background(), root, &control.Sentence{Path: "/user/group", Cmd: "add",
		Args: []control.Arg{{Name: "name", Value: "nosens"}, {Name: "policy", Value: "local,ftp,read,write"}}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range [][3]string{{"admin", "full", adminPW}, {"viewer", "read", viewerPW}, {"ftponly", "nosens", ftponlyPW}} {
		if err := user.Put(context.Background(), ex, u[0], u[1], u[2]); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Auth: user.NewAuth(ex, nil), Dir: files}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "ftp://" + ln.Addr().String() + "/", files
}

func curl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-s", "-S", "--max-time", "30"}, args...)...).CombinedOutput()
	return string(out), err
}

func TestCurl(t *testing.T) {
	url, files := startServer(t)
	admin := "admin:" + adminPW
	backup := "/system identity set name=ftp\n"
	if err := os.WriteFile(filepath.Join(files, "backup.rsc"), []byte(backup), 0o600); err != nil {
		t.Fatal(err)
	}

	// Download over EPSV and over PASV.
	if out, err := curl(t, "-u", admin, url+"backup.rsc"); err != nil || out != backup {
		t.Fatalf("download: %v %q", err, out)
	}
	if out, err := curl(t, "--disable-epsv", "-u", admin, url+"backup.rsc"); err != nil || out != backup {
		t.Fatalf("download over PASV: %v %q", err, out)
	}
	// SIZE.
	if out, err := curl(t, "-I", "-u", admin, url+"backup.rsc"); err != nil || !strings.Contains(out, "Content-Length: 30") {
		t.Fatalf("size: %v %q", err, out)
	}

	// Upload.
	local := filepath.Join(t.TempDir(), "up.txt")
	content := strings.Repeat("uploaded line\n", 5000)
	os.WriteFile(local, []byte(content), 0o644)
	if out, err := curl(t, "-u", admin, "-T", local, url+"uploaded.txt"); err != nil {
		t.Fatalf("upload: %v %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(files, "uploaded.txt"))
	if err != nil || string(b) != content {
		t.Fatalf("uploaded file: %v, %d bytes", err, len(b))
	}
	if fi, _ := os.Stat(filepath.Join(files, "uploaded.txt")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("uploaded file mode %v", fi.Mode())
	}

	// LIST and NLST.
	if out, err := curl(t, "-u", admin, url); err != nil || !strings.Contains(out, " backup.rsc") || !strings.Contains(out, "70000") {
		t.Fatalf("list: %v %q", err, out)
	}
	if out, err := curl(t, "-l", "-u", admin, url); err != nil || strings.Fields(out)[0] != "backup.rsc" || strings.Fields(out)[1] != "uploaded.txt" {
		t.Fatalf("nlst: %v %q", err, out)
	}

	// DELE.
	if out, err := curl(t, "-u", admin, "-Q", "DELE uploaded.txt", url); err != nil {
		t.Fatalf("dele: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(files, "uploaded.txt")); !os.IsNotExist(err) {
		t.Fatalf("uploaded.txt still there: %v", err)
	}
}

func TestConfinedAndPolicy(t *testing.T) {
	url, files := startServer(t)
	admin := "admin:" + adminPW
	secret := filepath.Join(filepath.Dir(files), "secret")
	os.WriteFile(secret, []byte("secret"), 0o600)
	if err := os.Symlink(secret, filepath.Join(files, "link")); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{url + "../secret", url + "%2e%2e/secret", url + "link"} {
		if out, err := curl(t, "--path-as-is", "-u", admin, u); err == nil || strings.Contains(out, "secret") {
			t.Errorf("%s: read outside files/: %q", u, out)
		}
	}
	// ".." at the top stays at the top: the upload lands inside files/.
	if out, err := curl(t, "-u", admin, "-T", secret, "--path-as-is", url+"../escaped"); err != nil {
		t.Errorf("upload to ../escaped: %v %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(files), "escaped")); err == nil {
		t.Error("upload escaped files/")
	}
	if _, err := os.Stat(filepath.Join(files, "escaped")); err != nil {
		t.Errorf("upload to ../escaped is not in files/: %v", err)
	}
	// No ftp policy, wrong password: login refused.
	if out, err := curl(t, "-u", "viewer:"+viewerPW, url); err == nil || !strings.Contains(out, "530") {
		t.Errorf("viewer: %v %q", err, out)
	}
	if out, err := curl(t, "-u", "admin:wrong", url); err == nil || !strings.Contains(out, "530") {
		t.Errorf("wrong password: %v %q", err, out)
	}
}

// Exported private keys and plain backups go only to users with the sensitive policy:
// ftp alone fetches certificates and scripts, not what holds secrets.
func TestSecretFilesNeedSensitive(t *testing.T) {
	url, files := startServer(t)
	os.WriteFile(filepath.Join(files, "cert_export_c.key"), []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600)
	os.WriteFile(filepath.Join(files, "cert_export_c.p12"), []byte{0x30, 0x82, 1, 0, 2, 1, 3}, 0o600)
	os.WriteFile(filepath.Join(files, "a.backup"), []byte(control.BackupHeader+"/user add name=x\n"), 0o600)
	os.WriteFile(filepath.Join(files, "cert_export_c.crt"), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o600)
	nosens := "ftponly:" + ftponlyPW
	for _, n := range []string{"cert_export_c.key", "cert_export_c.p12", "a.backup"} {
		if out, err := curl(t, "-u", nosens, url+n); err == nil || strings.Contains(out, "PRIVATE") || strings.Contains(out, "routerd backup") {
			t.Errorf("%s without sensitive: %v %q", n, err, out)
		}
		if out, err := curl(t, "-u", "admin:"+adminPW, url+n); err != nil {
			t.Errorf("%s as admin: %v %q", n, err, out)
		}
	}
	if out, err := curl(t, "-u", nosens, url+"cert_export_c.crt"); err != nil || !strings.Contains(out, "CERTIFICATE") {
		t.Errorf("certificate without sensitive: %v %q", err, out)
	}
}

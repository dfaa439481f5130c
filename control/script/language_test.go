package script

import (
	"os"
	"strings"
	"testing"
	"time"
)

// languageCases are the constructs of console-language.md §5, one row each, by section.
// docs/language.md lists them with the name of the subtest that covers each
// (TestLanguage/<section>/<name>).
var languageCases = []struct {
	sec, name, src, want string
	err                  string // expected error instead of output
}{
	// §5.1 data types
	{"5.1", "num", `:put [:typeof 42]; :put (0xFF + 1); :put (-1)`, "num\n256\n-1\n", ""},
	{"5.1", "bool", `:put [:typeof true]; :put [:typeof yes]`, "bool\nbool\n", ""},
	{"5.1", "str", `:put [:typeof "abc"]`, "str\n", ""},
	{"5.1", "ip", `:put [:typeof 10.0.0.1]`, "ip\n", ""},
	{"5.1", "ip-prefix", `:put [:typeof 10.0.0.0/24]`, "ip-prefix\n", ""},
	{"5.1", "ip6", `:put [:typeof fe80::1]`, "ip6\n", ""},
	{"5.1", "ip6-prefix", `:put [:typeof 2001:db8::/32]`, "ip6-prefix\n", ""},
	{"5.1", "id", `:put [:typeof *1A]`, "id\n", ""},
	{"5.1", "time", `:put [:typeof 1h30m]; :put [:typeof 00:00:05]; :put [:typeof [:timestamp]]`, "time\ntime\ntime\n", ""},
	{"5.1", "array", `:put [:typeof {1;2;3}]; :put [:typeof {a=1;b=2}]; :put [:typeof (1,2)]`, "array\narray\narray\n", ""},
	{"5.1", "nil", `:put [:typeof [:find "abc" "z"]]`, "nil\n", ""},
	{"5.1", "nothing", `:put [:typeof [:nothing]]; :local a {1}; :put [:typeof ($a->5)]`, "nothing\nnothing\n", ""},
	{"5.1", "code", `:put [:typeof [:parse ":put 1"]]; :local f do={}; :put [:typeof $f]`, "code\ncode\n", ""},
	{"5.1", "nothing-compare", `:put ([:nothing] = 0); :put ([:nothing] > 0)`, "false\nfalse\n", ""},
	{"5.1", "word-is-string", `:put (bridge=routing)`, "false\n", ""},
	// §5.2 variables and scope
	{"5.2", "local", `:local n 5; :put $n`, "5\n", ""},
	{"5.2", "global", `:global g "x"; :put $g`, "x\n", ""},
	{"5.2", "set", `:local n 5; :set n ($n + 1); :put $n`, "6\n", ""},
	{"5.2", "set-unset", `:global gu 1; :set gu; :global gu; :put [:typeof $gu]`, "nothing\n", ""},
	{"5.2", "quoted-name", `:local "my-var" 1; :put $"my-var"`, "1\n", ""},
	{"5.2", "undeclared-reads-nothing", `:put [:typeof $nosuchvar]`, "nothing\n", ""},
	{"5.2", "block-scope", `{ :local a 1; { :put $a } }`, "1\n", ""},
	{"5.2", "global-redeclare", `:global gs 7; { :global gs; :put $gs }`, "7\n", ""},
	{"5.2", "environment", `:global envx 3; :environment print`, "envx=3\n", ""},
	// §5.3 operators
	{"5.3", "arithmetic", `:put (10 / 2); :put (7 % 3); :put (2 * -3)`, "5\n1\n-6\n", ""},
	{"5.3", "time-arithmetic", `:put (3ms + 5s); :put (12s * 4)`, "00:00:05.003\n00:00:48\n", ""},
	{"5.3", "ip-arithmetic", `:put (10.0.0.15 + 10); :put (10.0.0.15 - 10.0.0.3)`, "10.0.0.25\n12\n", ""},
	{"5.3", "ip-plus-ip", `:put (10.0.0.1 + 10.0.0.2)`, "", "cannot add ip address to ip address"},
	{"5.3", "comparison", `:put (100000s > 27h); :put ("a" < "b"); :put (1 != 2)`, "true\ntrue\ntrue\n", ""},
	{"5.3", "array-comparison", `:put (60s,1d != 1m,3600s)`, "true\n", ""},
	{"5.3", "logical", `:put (!true); :put (true && false); :put (true and true); :put (false || true); :put (false or false)`, "false\nfalse\ntrue\ntrue\nfalse\n", ""},
	{"5.3", "bitwise", `:put (192.168.88.77 & 255.255.255.0); :put (~0.0.0.255); :put (1 << 4); :put (6 ^ 3); :put (4 | 1)`, "192.168.88.0\n255.255.255.0\n16\n5\n5\n", ""},
	{"5.3", "concat", `:put ("a" . 1)`, "a1\n", ""},
	{"5.3", "concat-array", `:put ("x=" . {1;2})`, "x=1;x=2\n", ""},
	{"5.3", "array-concat", `:put ({1;2} , 3); :put [:len (1,2,3)]`, "1;2;3\n3\n", ""},
	{"5.3", "element", `:local a {1;{b=2}}; :put ($a->1->"b"); :put ($a->0)`, "2\n1\n", ""},
	{"5.3", "regex", `:put ("ether1" ~ "^eth")`, "true\n", ""},
	{"5.3", "in", `:put (10.1.2.3 in 10.0.0.0/8); :put (1.1.1.1/32 in 1.0.0.0/8)`, "true\ntrue\n", ""},
	{"5.3", "substitution", `:local x 2; :put [:len "ab"]; :put ($x + 1)`, "2\n3\n", ""},
	{"5.3", "precedence", `:put (10+1-6*2=11-12=2+(-3)=-1); :put (10+1-6*2=11-12=(2+(-3)=-1))`, "false\ntrue\n", ""},
	// §5.4 strings
	{"5.4", "escapes", `:put "q\"b\\d\$"; :put [:len "\n\r\t\v\a\b\f"]`, "q\"b\\d$\n7\n", ""},
	{"5.4", "space-escape", `:put "a\_b"`, "a b\n", ""},
	{"5.4", "hex-escape", `:put "\48\49"`, "HI\n", ""},
	{"5.4", "bad-escape", `:put "x\y"`, "", "syntax error (line 1 column 8)"},
	{"5.4", "interpolation", `:local n 3; :put "n=$n $(6*7) $[:len "abc"]"`, "n=3 42 3\n", ""},
	{"5.4", "interpolation-quoted-name", `:local "a-b" 1; :put "v=$"a-b""`, "v=1\n", ""},
	{"5.4", "raw-newline", `:put "a
b"`, "a\nb\n", ""},
	// §5.5 arrays
	{"5.5", "list-literal", `:local a {1;2;"x"}; :put $a; :put [:len $a]`, "1;2;x\n3\n", ""},
	{"5.5", "keyed-literal", `:local m {name="r1"; ip=10.0.0.1}; :put ($m->"name"); :put [:typeof ($m->"ip")]`, "r1\nip\n", ""},
	{"5.5", "nested-literal", `:local n {1;{2;3};x={y=1}}; :put ($n->1->0); :put ($n->"x"->"y"); :put [:len $n]`, "2\n1\n3\n", ""},
	{"5.5", "literal-as-argument", `:put [:len {a=1;b=2}]; :put [:pick {1;2;3;4} 1 3]; :put [:find {5;6;7} 6]`, "2\n2;3\n1\n", ""},
	{"5.5", "empty-toarray", `:local e [:toarray ""]; :put [:len $e]`, "0\n", ""},
	{"5.5", "empty-parens", `:local e ({}); :put [:len $e]`, "0\n", ""},
	{"5.5", "empty-braces-error", `:global a {}`, "", "syntax error (line 1 column 11)"},
	{"5.5", "set-element", `:local a {1;2;"x"}; :set ($a->1) 5; :local m {ip=1}; :set ($m->"ip") 10.0.0.2; :put $a; :put ($m->"ip")`, "1;5;x\n10.0.0.2\n", ""},
	{"5.5", "foreach-kv", `:local m {b=2;a=1}; :foreach k,v in=$m do={ :put "$k=$v" }`, "a=1\nb=2\n", ""},
	{"5.5", "quoted-keys", `:local m {"aX"=1}; :put ($m->"aX")`, "1\n", ""},
	{"5.5", "iteration-order", `:foreach k,v in={2; "aX"=1; y=2; 5} do={ :put "$k=$v" }`, "0=2\n1=5\naX=1\ny=2\n", ""},
	{"5.5", "print-as-value", `/interface gre add name=g1 remote-address=10.0.0.2; :put [:typeof ([/interface gre print as-value]->0)]`, "array\n", ""},
	// §5.6 global commands
	{"5.6", "put", `:put 1d2h`, "1d02:00:00\n", ""},
	{"5.6", "log", `:log info "hello"; :log warning message=w`, "", ""},
	{"5.6", "delay", `:delay 1ms; :delay 0`, "", ""},
	{"5.6", "if", `:if (3 > 2) do={ :put big } else={ :put small }`, "big\n", ""},
	{"5.6", "while", `:local i 0; :while ($i < 2) do={ :set i ($i+1); :put $i }`, "1\n2\n", ""},
	{"5.6", "do-while", `:do { :put 1 } while=(false)`, "1\n", ""},
	{"5.6", "do-on-error", `:do { :error boom } on-error={ :put caught }`, "caught\n", ""},
	{"5.6", "for", `:for i from=3 to=1 do={ :put $i }; :for i from=0 to=6 step=3 do={ :put $i }`, "3\n2\n1\n0\n3\n6\n", ""},
	{"5.6", "foreach", `:foreach v in={1;2} do={ :put $v }`, "1\n2\n", ""},
	{"5.6", "error", `:error "custom"`, "", "custom"},
	{"5.6", "return", `:local f do={ :return 5 }; :put [$f]`, "5\n", ""},
	// RouterOS's exported scripts end with the console's quit: the run ends there.
	{"5.6", "quit", ":put before\nquit\n:put after", "before\n", ""},
	{"5.6", "quit-in-function", `:local f do={ :put in; quit }; :onerror e in={ $f } do={ :put caught }; :put after`, "in\n", ""},
	{"5.6", "onerror", `:onerror e in={ :error "custom" } do={ :put "caught: $e" }; :put [:onerror e in={ :local x 1 } do={}]`, "caught: custom\nfalse\n", ""},
	{"5.6", "onerror-positional", `:onerror e { :error x } do={ :put "got $e" }`, "got x\n", ""},
	{"5.6", "retry", `:global rn 0; :onerror e in={ :retry command={ :global rn; :set rn ($rn+1); :error "try $rn" } delay=1ms max=3 } do={ :put $e }`, "try 3\n", ""},
	{"5.6", "retry-positional", `:global rp 0; :retry { :global rp; :set rp ($rp+1); :if ($rp < 2) do={ :error no } } delay=1ms max=5; :put $rp`, "2\n", ""},
	{"5.6", "execute-as-string", `:put [:execute {:put hi} as-string]`, "hi\n\n", ""},
	{"5.6", "execute-job", `:put [:typeof [:execute {:log info job}]]`, "id\n", ""},
	{"5.6", "parse", `:global g [:parse ":put \"from string\""]; $g`, "from string\n", ""},
	{"5.6", "find", `:put [:find "abcabc" "c" -1]; :put [:find "abcabc" "c" 2]; :put [:find {1;2;3} 3]`, "2\n5\n2\n", ""},
	{"5.6", "pick", `:put [:pick "abcdef" 1 3]; :put [:pick "abcdef" 2]`, "bc\nc\n", ""},
	{"5.6", "len", `:put [:len "abc"]; :put [:len {1;2}]`, "3\n2\n", ""},
	{"5.6", "conversions", `:put [:tonum "42"]; :put [:tobool "yes"]; :put [:toip "1.2.3.4"]; :put [:toip6 "::1"]; :put [:totime "1h"]; :put [:tostr {1;2}]; :put [:toid "*5"]; :put [:toarray "1,2,3"]`, "42\ntrue\n1.2.3.4\n::1\n01:00:00\n1;2\n*5\n1;2;3\n", ""},
	{"5.6", "time", `:put [:typeof [:time {:delay 1ms}]]`, "time\n", ""},
	{"5.6", "resolve-literal", `:put [:resolve 10.0.0.1]; :put [:typeof [:resolve ::1]]`, "10.0.0.1\nip6\n", ""},
	{"5.6", "resolve-bad-type", `:put [:resolve a.example type=ipx]`, "", "input does not match any value of type"},
	{"5.6", "jobname", `:put [:typeof [:jobname]]`, "str\n", ""},
	{"5.6", "nothing", `:put [:typeof [:nothing]]`, "nothing\n", ""},
	{"5.6", "range", `:put [:range 2 8]`, "2;3;4;5;6;7;8\n", ""},
	{"5.6", "rndnum", `:put [:rndnum from=4 to=4]`, "4\n", ""},
	{"5.6", "rndstr", `:put [:len [:rndstr length=12]]; :put [:rndstr from="a" length=3]`, "12\naaa\n", ""},
	{"5.6", "convert", `:put [:convert "abc" to=base64]; :put [:convert "YWJj" from=base64]; :put [:convert "abc" to=hex]; :put [:convert "abc" transform=uc]; :put [:convert "abc" transform=md5 to=hex]; :put [:convert "abc" to=byte-array]; :put [:convert "abc" transform=reverse]`,
		"YWJj\nabc\n616263\nABC\n900150983cd24fb0d6963f7d28e17f72\n97;98;99\ncba\n", ""},
	{"5.6", "serialize", `:put [:serialize to=json {a=1;b={1;true;"x"}}]; :put [:serialize to=dsv delimiter=";" {{1;2};{3;4}}]`, "{\"a\":1,\"b\":[1,true,\"x\"]}\n1;2\n3;4\n", ""},
	{"5.6", "deserialize", `:local d [:deserialize from=json "{\"a\":[1,2],\"b\":\"x\"}"]; :put ($d->"a"->1); :put ($d->"b"); :put ([:deserialize from=dsv delimiter=";" "1;2"]->0->1)`, "2\nx\n2\n", ""},
	{"5.6", "deserialize-bad", `:put [:deserialize from=json "{"]`, "", "invalid json"},
	{"5.6", "tonsec", `:put [:tonsec 1s]`, "1000000000\n", ""},
	{"5.6", "tocrlf-tolf", `:put [:len [:tocrlf "a\nb"]]; :put [:len [:tolf "a\r\nb"]]`, "4\n3\n", ""},
	{"5.6", "grep", `:grep script=":put abc; :put xyz" pattern="^ab"`, "abc\n", ""},
	{"5.6", "hardware-helpers", `:beep; :terminal; :lock`, "", ""},
	// §5.7 functions
	{"5.7", "named-args", `:global add2 do={ :return ($a + $b) }; :put [$add2 a=6 b=2]`, "8\n", ""},
	{"5.7", "positional-args", `:global greet do={ :put "hi $1 and $2" }; $greet alice bob`, "hi alice and bob\n", ""},
	{"5.7", "function-sees-globals-only", `:global f2 do={ :global add2; :return ([$add2 a=1 b=$1] * 10) }; :global add2 do={ :return ($a + $b) }; :put [$f2 3]`, "40\n", ""},
	{"5.7", "parameter-shadows-global", `:global my2 123; :global fn do={ :global my2; :set my2 lala; :return $my2 }; :put [$fn my2=1234]; :put $my2`, "lala\n123\n", ""},
	{"5.7", "array-argument", `:local f do={ :return [:len $1] }; :put [$f {1;2;3}]`, "3\n", ""},
	// §5.8 error handling
	{"5.8", "on-error-resolve", `:do { :put [:resolve "no.such.name" server=127.0.0.1 server-port=9] } on-error={ :put "lookup failed" }`, "lookup failed\n", ""},
	{"5.8", "on-error", `:do { :error "x" } on-error={ :put "lookup failed" }`, "lookup failed\n", ""},
	{"5.8", "onerror-returns-true", `:if ([:onerror e in={ /ip address add address=x interface=y } do={ :log warning $e }]) do={ :put "add failed" }`, "add failed\n", ""},
	{"5.8", "syntax-not-catchable", `:do { :put [/nonsense] } on-error={ :put caught }`, "", "bad command name nonsense (line 1 column 14)"},
	{"5.8", "uncaught-stops", `:put 1; :error stop; :put 2`, "1\n", "stop"},
}

// TestLanguage runs every construct of console-language.md §5 (the conformance table of
// docs/language.md).
func TestLanguage(t *testing.T) {
	for _, tc := range languageCases {
		t.Run(tc.sec+"/"+tc.name, func(t *testing.T) {
			in, c := newInterp(t)
			out, err := runSrc(t, in, c, tc.src)
			switch {
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Errorf("%s: error %v; want %q", tc.src, err, tc.err)
			case tc.err == "" && err != nil:
				t.Errorf("%s: %v", tc.src, err)
			}
			if out != tc.want {
				t.Errorf("%s: got %q want %q", tc.src, out, tc.want)
			}
		})
	}
}

// TestExecuteJob checks that an :execute job runs apart from its caller: the caller's
// unit ends before the job's delay does, and the job's global shows up afterwards.
func TestExecuteJob(t *testing.T) {
	in, c := newInterp(t)
	if out := mustRun(t, in, c, `:put [:typeof [:execute ":delay 20ms; :global ej 5"]]`); out != "id\n" {
		t.Fatalf("execute: %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := mustRun(t, in, c, `:global ej; :put $ej`)
		if out == "5\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never set ej: %q", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLanguageTableDocumented keeps docs/language.md and languageCases in step.
func TestLanguageTableDocumented(t *testing.T) {
	doc := readDoc(t, "../../docs/language.md")
	for _, tc := range languageCases {
		if !strings.Contains(doc, "TestLanguage/"+tc.sec+"/"+tc.name+"`") {
			t.Errorf("docs/language.md lacks TestLanguage/%s/%s", tc.sec, tc.name)
		}
	}
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package bench

import (
	"bytes"
	"context"
	"github.com/meshward/meshward/extauthz/eaas/rpc"
	"os"
	"strings"
	"testing"
	"time"
)

// The attacker process of part 4 is this test binary run again.
func TestMain(m *testing.M) {
	if os.Getenv("EAAS_BENCH_ATTACKER") == "1" {
		if err := RunAttacker(context.Background(), os.Args[1:], os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func tiny() Config {
	c := Defaults()
	c.Ciphers = []string{"aes256-gcm", "insecure-des"}
	c.Workers, c.Rounds, c.Duration = 2, 1, 100*time.Millisecond
	c.CryptorSizes, c.CryptorDuration = []int{1024}, 200*time.Millisecond
	c.DropOps, c.DropRounds = 4, 1
	c.CapacityDuration, c.FloodRounds, c.FloodDuration = 200*time.Millisecond, 1, 300*time.Millisecond
	c.FloodFactor, c.FloodInFlight, c.LegitTimeout = 2, 4, 10*time.Second
	return c
}

// Every part runs end to end in a tiny configuration; the figures are not
// judged (speed is the command's business), what happened is.
func TestRunTiny(t *testing.T) {
	t.Setenv("EAAS_BENCH_ATTACKER", "1")
	cfg := tiny()
	cfg.AttackerCommand = []string{os.Args[0]}
	rep, err := Run(t.Context(), cfg, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrips(t, rep)
	checkCryptor(t, rep)
	checkDrops(t, rep.Drops)
	checkFlood(t, rep.Flood)
	var out bytes.Buffer
	rep.Print(&out)
	for _, want := range []string{"1. Round trip", "2. Cryptor", "3. Cost of a drop", "4. Flood", "λ", "insecure-des"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

func checkRoundTrips(t *testing.T, rep *Report) {
	if len(rep.RoundTrips) != len(Scenarios)*len(rep.Config.Ciphers) {
		t.Fatalf("%d round-trip rows, want %d", len(rep.RoundTrips), len(Scenarios)*len(rep.Config.Ciphers))
	}
	for _, r := range rep.RoundTrips {
		if r.OK() == 0 || r.Failed() > 0 {
			t.Errorf("%s %s: %d round trips, failures: %s", r.Scenario, r.Cipher, r.OK(), r.FailureSummary())
		}
		// λ's registrar spreads its five subscribers over five coordinators.
		if want := map[string]int{Alpha: 1, Beta: 1, Lambda: 5}[r.Scenario]; r.Coordinators != want || r.Subscribers != want {
			t.Errorf("%s %s: %d subscribers on %d coordinators, want %d on %d", r.Scenario, r.Cipher, r.Subscribers, r.Coordinators, want, want)
		}
	}
}

func checkCryptor(t *testing.T, rep *Report) {
	if len(rep.Cryptor) != len(tinkCiphers) {
		t.Fatalf("%d cryptor rows, want %d", len(rep.Cryptor), len(tinkCiphers))
	}
	for _, r := range rep.Cryptor {
		if r.Cryptor <= 0 || r.Raw <= 0 || r.Ratio <= 0 {
			t.Errorf("cryptor row %+v", r)
		}
	}
}

func checkDrops(t *testing.T, d *DropReport) {
	if d == nil {
		t.Fatal("no part 3")
	}
	for name, v := range map[string]time.Duration{"real": d.RealDecrypt, "fake": d.FakeDrop, "admit": d.Admit,
		"https real": d.HTTPSRealDecrypt, "https fake": d.HTTPSFakeDrop} {
		if v <= 0 {
			t.Errorf("%s: %v", name, v)
		}
	}
}

// Attackers get refused, each for its own reason, and never served;
// legitimate round trips never fail for another reason than time.
func checkFlood(t *testing.T, f *FloodReport) {
	if f == nil || len(f.Phases) != 3 {
		t.Fatalf("part 4: %+v", f)
	}
	want := map[string]string{MemberFlood: "403 eaas-no-real-message", OutsiderFlood: "403 eaas-not-member"}
	for _, p := range f.Phases {
		for class := range p.Legit.Failures {
			if class != "timeout" && class != NotSent {
				t.Errorf("%s: legitimate round trips failed: %s", p.Name, p.Legit.FailureSummary())
			}
		}
		if p.Name == NoFlood {
			if p.Attack.Failed() != 0 {
				t.Errorf("no flood, yet attackers got %s", p.Attack.FailureSummary())
			}
			continue
		}
		if p.Attack.Failures[want[p.Name]]+p.Attack.Failures["429 "+rpc.ReasonPenalized] == 0 {
			t.Errorf("%s: attackers got %s, want %s", p.Name, p.Attack.FailureSummary(), want[p.Name])
		}
		for class := range p.Attack.Failures {
			penalty := p.Name == MemberFlood && class == "429 "+rpc.ReasonPenalized
			if class != want[p.Name] && class != NotSent && class != "timeout" && !penalty {
				t.Errorf("%s: attackers got %s", p.Name, p.Attack.FailureSummary())
			}
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"size":      func(c *Config) { c.Size = 0 },
		"workers":   func(c *Config) { c.Workers = 0 },
		"deception": func(c *Config) { c.Deception = 0 },
		"part":      func(c *Config) { c.Parts = []int{5} },
		"scenario":  func(c *Config) { c.Scenarios = []string{"ω"} },
		"cipher":    func(c *Config) { c.Ciphers = []string{"rot13"} },
		"rounds":    func(c *Config) { c.Rounds = 0 },
		"flood":     func(c *Config) { c.FloodFactor = 0 },
		"processes": func(c *Config) { c.FloodProcesses = 0 },
		"flood t":   func(c *Config) { c.FloodDeception = 9 },
	} {
		c := Defaults()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: an invalid configuration passed", name)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
}

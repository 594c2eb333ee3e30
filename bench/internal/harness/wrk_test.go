package harness

import "testing"

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want WrkResult
	}{
		{
			name: "clean",
			out: `Running 10s test @ http://127.0.0.1:18081/hello/x
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.89ms    1.75ms  56.82ms   92.94%
    Req/Sec    51.09k     8.80k   77.08k    73.00%
  509692 requests in 5.02s, 63.19MB read
Requests/sec: 101585.03
Transfer/sec:     12.59MB
`,
			want: WrkResult{Requests: 509692, RPS: 101585.03},
		},
		{
			name: "errors",
			out: `  455288 requests in 5.02s, 119.84MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 455288
Requests/sec:  90694.13
`,
			want: WrkResult{Requests: 455288, RPS: 90694.13, Non2xx: 455288, SocketErrors: 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			got.Output = ""
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("a report without Requests/sec parsed")
	}
}

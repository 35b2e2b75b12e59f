package main

import (
	"math"
	"testing"
)

func TestBinomialCDF(t *testing.T) {
	for _, tc := range []struct {
		n, m int
		want float64
	}{
		{1, 0, 0.5},
		{5, 0, 1.0 / 32},
		{10, 1, 11.0 / 1024},
		{15, 3, 576.0 / 32768},
		{15, 15, 1},
	} {
		if got := binomialCDF(tc.n, tc.m); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("binomialCDF(%d, %d) = %v, want %v", tc.n, tc.m, got, tc.want)
		}
	}
}

func TestMedianInterval(t *testing.T) {
	seq := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(n - i) // descending: the function must sort
		}
		return v
	}
	for _, tc := range []struct {
		n      int
		lo, hi float64
		why    string
	}{
		{0, 0, 0, "no samples"},
		{5, 1, 5, "too few for 95%: the whole range, not ok"},
		{6, 1, 6, "P(X=0) = 1/64: the extremes"},
		{10, 2, 9, "P(X<=1) = 11/1024, P(X<=2) = 56/1024"},
		{15, 4, 12, "P(X<=3) = 0.0176, P(X<=4) = 0.059"},
		{20, 6, 15, "P(X<=5) = 0.0207, P(X<=6) = 0.0577"},
	} {
		lo, hi, ok := medianInterval(seq(tc.n))
		if ok != (tc.n >= 6) {
			t.Errorf("n=%d: ok %v", tc.n, ok)
		}
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("n=%d: [%v, %v], want [%v, %v] (%s)", tc.n, lo, hi, tc.lo, tc.hi, tc.why)
		}
	}
}

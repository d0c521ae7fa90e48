package reconcile

// RowBytes exposes rowBytes to the benchmarks, which count a full export's
// bytes the way the diff counts its own.
var RowBytes = rowBytes

//! Loop oracles (filled below).

//! returns

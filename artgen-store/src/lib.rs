//! artgen-store

//! artgen-http

//! artgen-openai

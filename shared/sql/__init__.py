"""SQL, one module per table or concern. Functions take the connection first and never commit."""

"""The hardship assistance index (困难救助指数), v1."""

"""online_store"""

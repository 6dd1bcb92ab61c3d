"""feast_bridge"""

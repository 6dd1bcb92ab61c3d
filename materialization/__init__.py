"""materialization"""

"""chainrule.train"""

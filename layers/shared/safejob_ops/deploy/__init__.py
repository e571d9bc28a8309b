"""The deploy workflow: zero-downtime blue/green releases on ECS Fargate, judged by canary analysis."""
